"""Configuration: ha.cf, authkeys, haresources, pyheartbeat.cf and their cross-check (reads files, nothing else)."""
