"""The pure core: wire messages, codec, auth, membership, the failover engine and the joint
that connects them; fed with events and a clock, returns actions."""
