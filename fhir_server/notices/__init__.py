"""Email notices when something new arrives in a patient's record (a test result, a document,
a message from the care team): never its content, at most one mail per person per kind per
hour, to the patient and each family member with active access who has that kind turned on."""
