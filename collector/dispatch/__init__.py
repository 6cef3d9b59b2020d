"""The dispatcher's board and the CAD interface: a private listener beside the public site (docs/dispatch.md)."""
