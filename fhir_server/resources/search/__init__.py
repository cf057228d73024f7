"""FHIR R4 search (https://hl7.org/fhir/R4/search.html) on the write-time index.

Write side: :func:`stored_index` (the ``idx`` subdocument, from :func:`index_resource`),
:func:`patient_compartments` (the ``comp`` list) and :func:`index_models`
(the collection indexes).  Read side: :func:`search` returns a searchset
Bundle under a :class:`SearchScope`.
"""

from .compartment import PATIENT_COMPARTMENT, patient_compartments
from .definitions import SEARCH_PARAMS, SearchParam, get_param, params_for
from .extract import index_models, index_resource, retired_indexes, stored_index
from .scope import UNRESTRICTED, SearchScope

__all__ = [
    "PATIENT_COMPARTMENT",
    "SEARCH_PARAMS",
    "UNRESTRICTED",
    "SearchParam",
    "SearchScope",
    "get_param",
    "index_models",
    "index_resource",
    "params_for",
    "patient_compartments",
    "retired_indexes",
    "search",
    "stored_index",
]


def __getattr__(name: str):  # lazy: the write path does not need the query engine
    if name == "search":
        from .execute import search

        return search
    raise AttributeError(name)
