"""Saga pack (queue `orders.saga.v1`): order fulfilment that undoes completed steps on failure."""
