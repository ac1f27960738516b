"""Notifications: the inbox, event handlers that fill it, email, and the WebSocket hub."""
