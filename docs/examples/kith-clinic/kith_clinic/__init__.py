"""kith-clinic: a CRM for a therapy practice, built on Kith as a vendor would build one.

Appointments of clients (contacts) with a therapist who owns them, session notes on the
timeline, the client's insurance number as a custom field on contacts, the day's
upcoming appointments, a follow-up task when a client does not show up, a nightly tag
for clients who keep missing appointments, personal data export and erasure, and the
practice's roles.  Written only against ``kith.sdk``.

``plugin`` is the manifest Kith finds through the ``kith.plugins`` entry point.
"""

from kith.sdk import Plugin, initial_migration

from kith_clinic.models import Appointment
from kith_clinic.settings import ClinicSettings

__version__ = "1.0.0"

plugin = Plugin(
    name="clinic",
    version=__version__,
    summary="Appointments owned by therapists, session notes, no-show follow-up.",
    requires_kith=">=0.1,<1",
    hooks="kith_clinic.hooks",
    tables=[Appointment],
    migrations=[initial_migration(Appointment)],
    settings=ClinicSettings,
)
