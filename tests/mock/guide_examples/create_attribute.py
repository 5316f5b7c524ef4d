# Copied verbatim from the Exist API v2 guide, guide/write_client.md (Hello Code).
# tests/mock/test_guide_examples.py runs it against mock-exist, changing only the host
# and filling in the token/client placeholders.
from enum import IntEnum
from pprint import PrettyPrinter
import requests, json

TOKEN = '[your_token]'

# let's make some constants to represent Exist's value types
class ValueType(IntEnum):
    QUANTITY = 0
    DECIMAL = 1
    STRING = 2
    DURATION = 3
    TIMEOFDAY = 4
    PERCENTAGE = 5
    BOOLEAN = 7
    SCALE = 8

def create_attribute(token, label, value_type, group, manual):
    # make the json string to send to Exist
    body = json.dumps([
        {'label': label,
         'value_type': value_type,
         'group': group,
         'manual': manual
        }])

    # make the POST request, sending the json as the POST body
    # we need a content-type header so Exist knows it's json
    response = requests.post("https://exist.io/api/2/attributes/create/", 
        data=body,
        headers={'Authorization':f'Bearer {token}',
                 'Content-type':'application/json'})

    if response.status_code == 200:
        # a 200 status code indicates a successful outcome
        # let's get out the full version of our attribute
        data = response.json()
        obj = data['success'][0]
        print("Created successfully:")
        # and let's print it (nicely) so we can see its fields
        pp = PrettyPrinter()
        pp.pprint(obj)
    else:
        # print the error if something went wrong
        data = response.json()
        print("Error:", data)

# call the function with the attribute details we're after
create_attribute(TOKEN, "Time reading", ValueType.DURATION, "media", False)
