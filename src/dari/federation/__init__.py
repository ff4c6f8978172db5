"""Federation: what runs at a site for the hub, and the disclosure control of everything that leaves a site."""
