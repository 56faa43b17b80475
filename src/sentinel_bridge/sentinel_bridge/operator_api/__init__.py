"""The operator HTTP API: FastAPI application, schemas, security and routes (no rclpy)."""
