"""The commands of course.py that are words rather than steps (its --help lists them)."""
COMMANDS = {
    "check": "course.py check my_2.1.py: your exercise's network against the step's, then a short run diagnosed",
    "tour": "course.py tour: the six panels and the keys, explained",
    "walk": "course.py walk: step 1.0 line by line (placeholders, variables, the model, the loss, the "
            "optimiser, the Session and feed_dict)",
    "notes": "course.py notes: where the scripts differ from the course's text, and why",
}
