"""Admin tools: cl_status, the init script, hb2pcs, the installer."""
