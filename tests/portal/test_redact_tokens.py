"""The access-log filter: link tokens and SHL secrets in paths are masked."""

from __future__ import annotations

import logging

import pytest

from fhir_server.portal import RedactTokens


def _access(path: str) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                             ("127.0.0.1:5000", "GET", path, "1.1", 200), None)


@pytest.mark.parametrize(("path", "secret", "shown"), [
    ("/invite?token=abc123SECRET&x=1", "abc123SECRET", "/invite?token=[redacted]&x=1"),
    ("/shl/manifest/m4nifestSECRET", "m4nifestSECRET", "/shl/manifest/[redacted]"),
    ("/shl/manifest/m4nifestSECRET?recipient=x", "m4nifestSECRET", "/shl/manifest/[redacted]?recipient=x"),
    ("/shl/file/f1leSECRET", "f1leSECRET", "/shl/file/[redacted]"),
])
def test_secrets_in_the_path_or_query_are_masked(path: str, secret: str, shown: str) -> None:
    record = _access(path)
    assert RedactTokens().filter(record) is True
    message = record.getMessage()
    assert secret not in message and shown in message


def test_other_paths_are_left_alone() -> None:
    record = _access("/shl/view?x=1")
    RedactTokens().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /shl/view?x=1 HTTP/1.1" 200'
