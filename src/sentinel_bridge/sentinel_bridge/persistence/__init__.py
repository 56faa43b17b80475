"""The operations database: schema, migrations, storage and the retry queue."""
