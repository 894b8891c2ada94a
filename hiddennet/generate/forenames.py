"""Forenames for the duplicates generator (duplicates.py): a force's records hold hundreds of forenames
per sex with a skewed frequency (a few very common, a long tail), not a few dozen equally common ones.

The lists mix names common among people born in England and Wales from the 1950s to the 2010s
across its communities, most common first; `forename_weights` gives them a Zipf-Mandelbrot
frequency (weight 1 / (rank + 20)), so the commonest name is about 1.5% of a sex's records and the
effective number of names (1 / sum of squared shares) is about 200 per sex. Every full name of
resolve/names.py's nicknames is in a list, so the planted nickname change can apply.
"""

from __future__ import annotations

import numpy as np

FORENAMES_F = (
    "Olivia", "Amelia", "Emily", "Sophie", "Jessica", "Chloe", "Lily", "Grace", "Hannah", "Sarah", "Emma",
    "Laura", "Rebecca", "Charlotte", "Lauren", "Megan", "Amy", "Elizabeth", "Katherine", "Isla", "Ava", "Mia",
    "Ella", "Isabella", "Holly", "Lucy", "Ruby", "Leah", "Jade", "Zara", "Aisha", "Eleanor", "Madison", "Freya",
    "Evie", "Poppy", "Erin", "Phoebe", "Maryam", "Amber", "Niamh", "Jasmine", "Fatima", "Abigail", "Caitlin",
    "Bethany", "Naomi", "Tia", "Keira", "Shannon", "Courtney", "Danielle", "Natalie", "Paige", "Kayleigh",
    "Samantha", "Victoria", "Nicola", "Michelle", "Lisa", "Claire", "Kelly", "Karen", "Susan", "Julie", "Helen",
    "Joanne", "Tracey", "Donna", "Angela", "Louise", "Stacey", "Kirsty", "Leanne", "Hayley", "Rachel",
    "Stephanie", "Jennifer", "Alice", "Sophia", "Florence", "Daisy", "Scarlett", "Evelyn", "Matilda", "Rosie",
    "Willow", "Harper", "Ivy", "Millie", "Esme", "Maisie", "Layla", "Imogen", "Georgia", "Molly", "Summer",
    "Eva", "Anna", "Maya", "Eliza", "Harriet", "Violet", "Aria", "Lilly", "Orla", "Ayesha", "Hafsa", "Khadija",
    "Zainab", "Amina", "Sana", "Iqra", "Noor", "Hira", "Priya", "Simran", "Anjali", "Neha", "Pooja", "Sapna",
    "Nadia", "Yasmin", "Sadia", "Ruqayyah", "Safiya", "Aaliyah", "Precious", "Blessing", "Chantelle", "Shanice",
    "Tanisha", "Kiera", "Demi", "Jodie", "Jordan", "Kerry", "Kimberley", "Sian", "Rhiannon", "Ffion", "Cerys",
    "Carys", "Megane", "Agnieszka", "Katarzyna", "Joanna", "Magdalena", "Aleksandra", "Natalia", "Ioana",
    "Andreea", "Elena", "Maria", "Ana", "Sofia", "Mary", "Margaret", "Patricia", "Linda", "Barbara", "Carol",
    "Sandra", "Deborah", "Denise", "Janet", "Jacqueline", "Wendy", "Alison", "Sharon", "Amanda", "Caroline",
    "Dawn", "Diane", "Catherine", "Christine", "Emma-Louise", "Lucy-Mae", "Libby", "Lola", "Ellie-Mae", "Skye",
    "Nevaeh", "Hollie", "Tilly", "Lacey", "Kacey", "Jessie", "Abbie", "Becky", "Charlie", "Alexandra", "Gabriella",
    "Francesca", "Isabel", "Rose", "Beatrice", "Martha", "Heidi", "Thea", "Clara", "Elsie", "Edith", "Nancy",
    "Zoe", "Faith", "Hope", "Destiny", "Tiana", "Ciara", "Aoife", "Roisin", "Siobhan", "Bridget", "Lydia",
    "Eve", "Kayla", "Abby", "Sienna", "Lexi", "Bella", "Mollie", "Ellie", "Jemima", "Daniella", "Aliyah",
    "Kezia", "Esther", "Ruth", "Miriam", "Hollyann", "Toni", "Marie", "Jane", "Anne", "Joanna-Rose", "Chelsea",
)
FORENAMES_M = (
    "Oliver", "James", "Jack", "Harry", "Thomas", "Mohammed", "Daniel", "Joshua", "William", "George", "Samuel",
    "Michael", "Matthew", "David", "Christopher", "Joseph", "Ryan", "Connor", "Lewis", "Liam", "Charlie", "Jacob",
    "Noah", "Benjamin", "Adam", "Kyle", "Robert", "Nicholas", "Alfred", "Edward", "Henry", "Jonathan", "Stephen",
    "Zachary", "Callum", "Ethan", "Owen", "Reece", "Bradley", "Jordan", "Aaron", "Dylan", "Tyler", "Jamal",
    "Hassan", "Imran", "Tariq", "Kieran", "Nathan", "Luke", "Aidan", "Mark", "Paul", "Andrew", "Richard",
    "John", "Peter", "Anthony", "Kevin", "Gary", "Darren", "Lee", "Craig", "Wayne", "Dean", "Jason", "Scott",
    "Carl", "Neil", "Simon", "Martin", "Ian", "Stuart", "Shaun", "Jamie", "Ashley", "Sean", "Alexander",
    "Leo", "Arthur", "Oscar", "Archie", "Freddie", "Theo", "Isaac", "Teddy", "Finley", "Logan", "Max", "Lucas",
    "Mason", "Harrison", "Alex", "Jake", "Toby", "Louis", "Elliot", "Riley", "Jayden", "Kai", "Tommy", "Reggie",
    "Albie", "Rory", "Ronnie", "Frankie", "Bobby", "Sonny", "Ibrahim", "Yusuf", "Omar", "Bilal",
    "Hamza", "Usman", "Zain", "Ayaan", "Ahmed", "Abdullah", "Rizwan", "Faisal", "Asif", "Shahid", "Arjun",
    "Rohan", "Vikram", "Sunil", "Rajesh", "Harpreet", "Gurpreet", "Jaspreet", "Sandeep", "Amir", "Karim",
    "Kwame", "Kofi", "Tobi", "Emmanuel", "Samuel-James", "Dwayne", "Marcus", "Tyrone", "Leon", "Jermaine",
    "Malachi", "Isaiah", "Elijah", "Nathaniel", "Reuben", "Jaden", "Tristan", "Declan", "Ciaran", "Conor",
    "Padraig", "Rhys", "Gareth", "Dafydd", "Iwan", "Gethin", "Cai", "Jakub", "Kacper", "Piotr", "Mateusz",
    "Tomasz", "Marcin", "Andrei", "Alexandru", "Ionut", "Mihai", "Florin", "Luca", "Marco", "Antonio",
    "Kenneth", "Brian", "Keith", "Colin", "Graham", "Roger", "Trevor", "Barry", "Terence", "Raymond", "Philip",
    "Malcolm", "Derek", "Alan", "Dennis", "Roy", "Clive", "Nigel", "Russell", "Glenn", "Lloyd", "Ricky",
    "Danny", "Jimmy", "Billy", "Ollie", "Mitchell", "Morgan", "Jensen", "Brandon", "Corey", "Kane", "Jay",
    "Ross", "Grant", "Fraser", "Euan", "Hamish", "Cameron", "Finn", "Sebastian", "Hugo", "Jasper", "Felix",
    "Rupert", "Ellis", "Ben", "Sam", "Tom", "Dominic", "Patrick", "Francis", "Vincent", "Gabriel", "Rafael",
    "Kieron", "Levi", "Ezra", "Jude", "Caleb", "Stanley", "Albert", "Frederick", "Ernest", "Harvey", "Jenson",
    "Maxwell", "Tobias", "Bailey", "Brody", "Cody", "Jesse", "Troy", "Zak", "Muhammad", "Mohammad", "Charles",
)


def forename_weights(n: int) -> np.ndarray:
    """Shares of `n` names by rank (most common first): 1 / (rank + 20), summing to 1."""
    w = 1.0 / (np.arange(1, n + 1) + 20.0)
    return w / w.sum()
