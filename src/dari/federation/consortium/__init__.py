"""The deployment engine as a consortium runs it: certificates, SuperLink, SuperNodes, the local consortium."""
