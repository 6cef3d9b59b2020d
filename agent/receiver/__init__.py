"""GPS receiver configuration: profiles (firmware-config/), the messages they send, detection.

Pure core: :mod:`.profile` (load and validate), :mod:`.messages` (bytes to
send, answers), :mod:`.observe` (family, rate, sentence set from bytes);
shell: :mod:`.session` (serial I/O); :mod:`.cli` (``activecalls-agent receiver``).
"""

from agent.receiver.messages import Answer, Outcome, PmtkAck, Step, UbxAck, answer_to, build_steps, parse_pmtk001
from agent.receiver.observe import DETECT_BAUDS, Check, Identity, Observer, identify, verify
from agent.receiver.profile import Family, Profile, ProfileError, ReceiverError, list_profiles, load_profile

__all__ = [
    "DETECT_BAUDS",
    "Answer",
    "Check",
    "Family",
    "Identity",
    "Observer",
    "Outcome",
    "PmtkAck",
    "Profile",
    "ProfileError",
    "ReceiverError",
    "Step",
    "UbxAck",
    "answer_to",
    "build_steps",
    "identify",
    "list_profiles",
    "load_profile",
    "parse_pmtk001",
    "verify",
]
