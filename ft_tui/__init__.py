"""ft-tui: a terminal wizard from 'should I fine-tune?' to a trained, evaluated, exported model."""

__version__ = "0.1.0"
