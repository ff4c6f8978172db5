"""Facts about Korea shared across dari: RRNs, phone numbers, names, romanisation, places."""
