import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "commerce_project.settings.base")

application = get_wsgi_application()

# Everything loaded so far (Django, the apps, their modules) lives as long as the process.
# Frozen, the cyclic collector stops walking it on every full collection: about two thirds
# of the collector's time per API request (docs/deployment.md).
gc.collect()
gc.freeze()
