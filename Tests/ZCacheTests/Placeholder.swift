// Placeholder until ZCache tests land.
