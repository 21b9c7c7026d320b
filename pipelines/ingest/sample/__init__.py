"""The deterministic sample data set: a year of help-desk life at an MSP's clients."""
