"""Apps: open a SMART app with the record in view (EHR launch), list the apps connected to it,
and disconnect them. ``connected`` is the logic over the authorization server's refresh-token
chains; ``routes`` is the HTTP layer."""
