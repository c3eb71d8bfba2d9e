-- The guest gateway's MAC address (the appliance's guest interface), pushed
-- to every AP: on an isolated guest SSID a guest's frames may go only to it.
ALTER TABLE ac_settings ADD COLUMN gateway_mac TEXT;
