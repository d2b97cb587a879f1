"""The privacy modes `privacy=<mode>` selects (docs/privacy.md)."""

from __future__ import annotations

from fedkd.config.registry import Registry
from fedkd.privacy.client_level import ClientDPSettings
from fedkd.privacy.sample_level import SampleDPSettings
from fedkd.privacy.settings import NoPrivacy, PrivacySettings

PRIVACY_MODES: Registry[PrivacySettings] = Registry("privacy")
PRIVACY_MODES.add("none", NoPrivacy())
PRIVACY_MODES.add("sample", SampleDPSettings())
PRIVACY_MODES.add("client", ClientDPSettings())
