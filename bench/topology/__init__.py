"""The HA topology on one machine: ``make cluster`` starts it, ``python -m bench --topology ha``
breaks it on purpose and measures it (README "Running at scale")."""

from bench.topology._cluster import Topology, TopologyShape, start_topology

__all__ = ["Topology", "TopologyShape", "start_topology"]
