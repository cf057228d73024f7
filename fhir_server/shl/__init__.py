"""SMART Health Links (HL7 SMART Health Cards and Links IG, flag ``P``): a patient's record
of a period, encrypted as a JWE under a key that lives only in the link, behind a manifest
that answers only to the right passcode."""
