"""The shared base every stage builds on: configuration, contracts, canonical schemas, the
business-time kernel, periods, reading and writing files, reject helpers. It imports no stage."""
