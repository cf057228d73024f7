"""``carespace import``: placeholder replaced below."""
