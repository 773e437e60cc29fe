"""The domain: services per aggregate. No HTTP, no dialect names; no ORM row leaves core."""
