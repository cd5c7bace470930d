"""Who is who: students and their links, guardians, people who sign in."""
