"""The daily feeds: merchants, services and availability, exported from the Qmatic
catalogue and timeslots in Google's JSON feed format, and uploaded to Google's SFTP
dropboxes."""
