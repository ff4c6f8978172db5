"""Research pods: sandboxed analyses at the site, dummy data, output checking and the airlock."""
