"""The queuefleet operator: each WorkflowQueue becomes a worker Deployment and a KEDA ScaledObject.

The reconcile shape is observe → plan → apply: `planner.plan` is a pure function from a
spec view, the operator's configuration and the observed state to desired child manifests
and a status; `handlers` wires it into kopf.
"""
