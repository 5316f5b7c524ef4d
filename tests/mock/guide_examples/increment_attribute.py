# Copied verbatim from the Exist API v2 guide, guide/write_client.md (Hello Code).
# tests/mock/test_guide_examples.py runs it against mock-exist, changing only the host
# and filling in the token/client placeholders.
import requests, json

TOKEN = '[your_token]'

def make_update(attribute, value):
    # this value is now the amount to increment by
    return {'name': attribute, 'value': value}

def increment_attributes(token, updates):
    # make the json string to send to Exist
    body = json.dumps(updates)

    # make the POST request, sending the json as the POST body
    # we need a content-type header so Exist knows it's json
    response = requests.post("https://exist.io/api/2/attributes/increment/", 
        data=body,
        headers={'Authorization':f'Bearer {token}',
                 'Content-type':'application/json'})

    if response.status_code == 200:
        # a 200 status code indicates a successful outcome
        data = response.json()
        # get the current value from our success object
        current = data['success'][0]['current']
        print(f"Updated successfully. New value is {current}.")
    else:
        # print the error if something went wrong
        data = response.json()
        print("Error:", data)

# when we run this script, execution will start here
print("INCREMENT PAGES READ")

# make an update object to send
update = make_update("pages_read", 1)

# call the function with the array of updates we've made
increment_attributes(TOKEN, [update])
