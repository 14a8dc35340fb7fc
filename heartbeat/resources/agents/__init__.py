"""Resource agents: IPaddr, IPaddr2, Filesystem and their helpers findif and send_arp.

``resource.d/*`` in the repository are the launchers ResourceManager runs; each calls the
``legacy_main`` of one module here, which maps the haresources arguments the way the
original ``resource.d`` wrappers do (spec §15.1) and runs the agent in-process.
"""
