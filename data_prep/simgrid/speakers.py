"""The synthetic speakers: espeak-ng voice variant x pitch x pitch range x rate.

The table is fixed (independent of the corpus seed) so speaker ids mean the
same voice in every build. GRID speakers ``sg01``-``sg24`` (half male, half
female) speak in every split, a closed speaker set as in CHiME-2 Track 1, whose
34 GRID talkers appear in train, dev and test; a corpus size may use the first
N of them. Babble speakers ``bb01``-``bb16`` are never used for GRID sentences
and are split 8/4/4 into the train/dev/test babble pools (disjoint noise).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# espeak-ng variants without klatt synthesis, echo or breath noise (echo would
# be reverberation baked into the "dry" speech).
MALE_VARIANTS = ("m1", "m3", "m4", "m5", "m6", "m7", "Andy", "Denis", "Gene", "Lee",
                 "Mario", "Michael", "Mike", "croak", "grandpa", "gustave", "marcelo",
                 "robert", "Alex", "Jacky")
FEMALE_VARIANTS = ("f1", "Andrea", "Annie", "aunty", "belinda", "grandma", "linda",
                   "shelby")


@dataclass(frozen=True)
class Speaker:
    spk_id: str
    gender: str  # "m" or "f"
    voice: str  # espeak voice name, language + variant
    pitch: int  # espeak 0-100 (base pitch)
    pitch_range: int  # espeak 0-100 (intonation range)
    rate: int  # words per minute

    def tts_kwargs(self) -> dict:
        return dict(voice=self.voice, pitch=self.pitch, pitch_range=self.pitch_range,
                    rate=self.rate)

    def as_dict(self) -> dict:
        return asdict(self)


def _make(prefix: str, n: int, male_offset: int, rng_seed: int) -> list[Speaker]:
    rng = np.random.default_rng(rng_seed)
    out = []
    for i in range(n):
        male = i % 2 == 0
        k = i // 2
        if male:
            variant = MALE_VARIANTS[(male_offset + k) % len(MALE_VARIANTS)]
            pitch = int(rng.integers(20, 66))
        else:
            # 8 female variants for more female speakers: repeats get a pitch
            # from a different band, so no two speakers coincide
            j = male_offset // 2 + k
            variant = FEMALE_VARIANTS[j % len(FEMALE_VARIANTS)]
            band = (j // len(FEMALE_VARIANTS)) % 2
            pitch = int(rng.integers(35, 60) if band == 0 else rng.integers(62, 90))
        out.append(Speaker(
            spk_id=f"{prefix}{i + 1:02d}", gender="m" if male else "f",
            voice=f"en+{variant}", pitch=pitch,
            pitch_range=int(rng.integers(25, 95)), rate=int(rng.integers(140, 200)),
        ))
    return out


# GRID talkers: use male variants 0-11 and female variants from 0.
GRID_SPEAKERS: tuple[Speaker, ...] = tuple(_make("sg", 24, 0, 20240501))
# Babble talkers: the remaining male variants, female variants shifted.
BABBLE_SPEAKERS: tuple[Speaker, ...] = tuple(_make("bb", 16, 12, 20240502))

SPLIT_BABBLE = {
    "train": BABBLE_SPEAKERS[:8],
    "dev": BABBLE_SPEAKERS[8:12],
    "test": BABBLE_SPEAKERS[12:16],
}

# Babble vocabulary: common English words, none of them GRID words, so the
# babble cannot be mistaken for the target grammar.
BABBLE_WORDS = tuple("""
about above across after air almost also always animal answer apple area around
asked away baby back ball bank became because become bed been before began
behind being believe better between bird black boat body book both bottom box
boy bread bring brother brought building built business came car care carry
case cat center change children city class close cold come common complete
country course cover cross dark day deep didn't different dinner doctor does
dog done door down draw dream drive during early earth easy eat edge enough
even evening every example eye face fact family far farm fast father feel feet
few field figure fire first fish floor flower fly follow food foot forest form
found friend from front full game garden girl give glass gold good got great
ground group grow half hand happy hard have head hear heart heavy help here high
hill hold home horse hot hour house idea important inside island just keep kind
king know land large last late laugh learn leave left light line list listen
little live long look love low made make man many map market maybe mean measure
meet middle might mile milk mind minute money moon more morning most mother
mountain move much music must name near need never new next night north note
nothing notice number ocean often old only open order other over page paper
part party pass people perhaps person picture piece plan plant play point poor
power present pretty problem pull question quick quiet rain read ready real
reason remember rest right river road rock room round run sail same say school
science sea second see seem sentence short should show side simple since sing
sister sit size sleep slow small snow some something song sound south space
speak special spring stand star start station stay still stone stop story
street strong study such summer sun sure table take talk teacher tell than
that their them then there these thing think those though thought through time
today together told tomorrow took town travel tree true try turn under until
upon use usual very voice walk wall want warm watch water wave weather week
well went were west what when where which while whole why wide wild will wind
window winter wish without woman wonder wood word work world would write year
yellow yes yesterday young your
""".split())
