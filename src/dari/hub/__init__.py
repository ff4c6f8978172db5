"""The hub: catalog, search, governance, audit and portal."""
