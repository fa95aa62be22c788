"""queuefleet's dashboards and alerts as code.

`dashboards` defines the Grafana dashboards (built with grafana-foundation-sdk), `alerts`
the Prometheus alert rules; `generate` writes both where the chart ships them, and
`preview` renders the dashboards' main panels to PNG from a Prometheus server.
Regenerate with `make dashboards`; a unit test fails when the committed output differs.
"""
