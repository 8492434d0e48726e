"""Classic homonym triplets written for Compare (never taken from WiC): a word in a base sentence, a partner where it
means something else, and a partner where it keeps its meaning (the control). Short sentences of a classroom's
length, so a pair is judged against pairs like it; Compare's presets and the verdict's calibration
(core.studies.verdict_calibration) both read this list."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Triplet:
    word: str
    base: str
    different: str  # the word means something else
    same: str  # the word keeps the base sentence's meaning


TRIPLETS: tuple[Triplet, ...] = tuple(Triplet(*row) for row in (
    ("bank", "I sat on the river bank.", "The bank raised its interest rates.", "We walked along the bank of the river."),
    ("bat", "A bat flew out of the cave.", "He swung the bat and hit the ball.", "The bat hung upside down in the barn."),
    ("bark", "The bark of the old oak was rough.", "I heard the dog bark all night.", "Beetles lived under the bark of the pine."),
    ("spring", "The flowers bloom in spring.", "A spring in the mattress broke.", "We plant the garden every spring."),
    ("bass", "He plays bass in a jazz band.", "He caught a large bass in the lake.", "She tuned the bass before the concert."),
    ("match", "He struck a match to light the candle.", "The match ended in a draw.", "She lit the fire with a match."),
    ("crane", "A crane lifted the steel beams.", "A crane waded through the marsh.", "The crane moved the container onto the ship."),
    ("mouse", "The mouse ate the cheese in the kitchen.", "Click the left button of the mouse.", "The cat chased a mouse across the floor."),
    ("light", "Turn on the light in the hall.", "The box is light enough to carry.", "The light in the kitchen is broken."),
    ("seal", "A seal swam near the rocks.", "Break the seal on the envelope.", "The seal caught a fish in the harbour."),
    ("rock", "He threw a rock into the pond.", "They love to dance to rock music.", "She sat on a large rock by the shore."),
    ("pitch", "She sang the note at a high pitch.", "The pitcher threw a fast pitch.", "The violin was tuned to the right pitch."),
    ("fan", "Turn on the fan, it is hot.", "He is a big fan of the team.", "The fan cooled the stuffy room."),
    ("date", "We set a date for the wedding.", "She ate a sweet date from the palm tree.", "They chose a date for the meeting."),
    ("ring", "He gave her a gold ring.", "I heard the phone ring twice.", "She wore a diamond ring on her finger."),
    ("watch", "He checked the time on his watch.", "We watch a film every Friday.", "She bought a new watch for her father."),
    ("bear", "A bear caught a salmon in the river.", "I cannot bear the noise any longer.", "The bear slept in its cave all winter."),
    ("park", "The children played in the park.", "You can park the car on the street.", "We had a picnic in the park."),
    ("plant", "She watered the plant on the windowsill.", "The plant produces steel for cars.", "The plant on my desk needs more sun."),
    ("key", "He turned the key in the lock.", "The song is in the key of C.", "I lost the key to my front door."),
    ("letter", "She wrote a letter to her aunt.", "The word begins with the letter B.", "He mailed a letter to his friend."),
    ("train", "The train left the station at noon.", "Coaches train the team every morning.", "We took the train to the city."),
    ("wave", "A huge wave crashed on the beach.", "She gave a friendly wave from the window.", "The surfer rode a big wave."),
    ("fly", "A fly landed on my soup.", "Birds fly south in the winter.", "He swatted the fly with a newspaper."),
    ("saw", "He cut the board with a saw.", "I saw my friend at the store.", "She sharpened the saw in the workshop."),
    ("trunk", "The elephant raised its trunk.", "Put the bags in the trunk of the car.", "The elephant sprayed water from its trunk."),
    ("nail", "He hammered a nail into the wall.", "She painted each nail bright red.", "The picture hung from a rusty nail."),
    ("organ", "The heart is a vital organ.", "She played the organ in church.", "The liver is a large organ."),
    ("pen", "She signed the form with a pen.", "The pigs stayed in the pen.", "He wrote the note with a blue pen."),
    ("tie", "He wore a red tie to work.", "The game ended in a tie.", "She bought her father a silk tie."),
    ("jam", "She spread jam on her toast.", "We were stuck in a traffic jam.", "He made strawberry jam for breakfast."),
    ("palm", "He held the coin in his palm.", "A tall palm grew by the beach.", "She read the lines on his palm."),
    ("kind", "She is a kind and gentle person.", "What kind of music do you like?", "He was kind to the new students."),
    ("row", "We sat in the front row.", "They row the boat across the lake.", "Our seats were in the last row."),
    ("current", "The current swept the boat downstream.", "Read the current issue of the magazine.", "A strong current pulled the swimmer out."),
    ("scale", "Put the flour on the kitchen scale.", "A fish scale glittered in the sun.", "The scale showed that the parcel was heavy."),
    ("club", "He joined a chess club at school.", "He swung the golf club hard.", "The club meets every Tuesday night."),
    ("pupil", "The teacher praised each pupil.", "Light makes the pupil of the eye shrink.", "The new pupil sat near the window."),
    ("bolt", "He tightened the bolt with a wrench.", "A bolt of lightning hit the tree.", "The bolt on the gate was rusty."),
    ("coach", "The coach shouted at the players.", "We travelled to London by coach.", "The coach praised the goalkeeper."),
))
