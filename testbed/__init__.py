"""Real components for tests and for people: Temporal, a kwok control plane, Prometheus.

Each component is started on loopback ports picked at run time, keeps its log under the
artifacts folder, and is stopped by whoever started it (a pytest fixture or
`python -m testbed up/down`).
"""
