"""The local lab: throwaway PostgreSQL, PgBouncer, Redis and Docker on loopback, and incidents to inject."""
