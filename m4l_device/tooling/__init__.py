"""Python tooling for the Max for Live device: the .amxd builder and the panel picture."""
