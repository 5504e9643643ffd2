"""Rotation without Lambda: schedules (schedule.py), the targets a RotationLambdaARN can
name (targets.py: a built-in generator, operator-configured HTTPS webhooks) and the runner
that carries out the four AWS steps in the background (runner.py)."""
