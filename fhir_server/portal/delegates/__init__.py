"""Manage users: a patient grants a friend or family member full access to their portal.

The grant is FHIR, so the EHR sees who has access: a RelatedPerson (the person) and a
Consent (the patient's permission: ``proposed`` while the invite is pending, ``active``
once accepted, ``inactive`` or ``rejected`` when revoked). ``resources`` builds them,
``grants`` lists, invites, resends and revokes, ``accept`` turns an invite into access,
``routes`` is the HTTP layer.
"""
