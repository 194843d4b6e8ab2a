"""Settings of the real worker that tests start (tests/sagas/worker.py): the test settings,
with emails written to files in EMAIL_FILE_PATH so the test can read them."""

from commerce_project.settings.test import *  # noqa: F403

EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
