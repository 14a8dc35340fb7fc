"""hb2pcs: carry a heartbeat v1 cluster (ha.cf, haresources, authkeys) over to Corosync + Pacemaker.

``convert`` turns the parsed files into a ``Cluster`` (model.py), a pure function; the
writers render that one model as a pcs script, a crmsh script, CIB XML and corosync.conf;
``cli`` is the ``hb2pcs`` command. The mapping and its reasons: docs/pacemaker-migration.md.
"""
