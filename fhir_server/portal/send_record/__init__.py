"""Send Record: the patient's form to send part of their record as a SMART Health Link, and
the list of what they sent."""
