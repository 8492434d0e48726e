"""The class room: a teacher opens a room, students submit word pairs from their phones, and the board shows the
class's own Figure 2 (store: rooms and entries; validation: what may be submitted; board: what the pairs show)."""
