"""The resource side: programs the daemon runs and admins run (ResourceManager, harc, mach_down, hb_standby, agents)."""
