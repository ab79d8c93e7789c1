"""hubspot_courses_destination (exports are added once the client lands)."""
