"""The evaluation service: not built yet (see its issue); nothing here is wired into the system."""
